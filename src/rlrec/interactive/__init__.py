"""The IL-Rec side: world models, the interactive environment, evaluation, policies."""
