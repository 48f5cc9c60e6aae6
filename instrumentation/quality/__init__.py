"""Response-quality signals: hallucinated tool calls, response flags, evaluation scores."""
