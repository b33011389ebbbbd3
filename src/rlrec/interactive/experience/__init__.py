"""Experience: transitions with their history windows, states and minibatches as tensors, the
replay buffer, batched rollouts of a policy in the environment, and the offline data sets of
the offline learners."""
