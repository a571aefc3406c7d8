"""Request and response models, in Base/Create/Update/Public families per resource."""
