"""The simulated world: the world model (users, items, rewards, the user split), the rating
models fitted to a dataset and their calibration, and the builders of a world from a dataset or
from scratch (synthetic)."""
