"""Item titles as text: normalising titles, grounding free text (an LLM's answer, a recorded
trajectory) in the catalogue, and the text embedders that grounding and memory use."""
