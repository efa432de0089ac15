"""Stage 5, what a failure is: left-behind data, failures kept in the store, and how they are shown."""
