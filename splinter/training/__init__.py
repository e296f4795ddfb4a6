"""Lightning modules, optimisation and run outputs for fine-tuning."""
