"""A training or an evaluation inside its MLflow run: what the stages, the API, a search and the
Hydra callbacks call. Output code (a DVC dep of the stages that use it): recording goes through
`pipeline.tracking`, the files through the training and evaluation layers."""
