"""The model-update experiment (thesis Sections 4.2 and 6.2): ``cell`` runs one setup at one
latency, ``setups`` holds one module per setup, ``worker`` does the uploads where the
uploader sits, ``tidy`` builds the table. The path to the store is ours too: ``objectstore``
(the S3 client and an embedded SeaweedFS), ``latency`` (the delay proxy) and ``netns`` (a
network namespace and its veth pair)."""
