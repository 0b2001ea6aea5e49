"""mlopsbench: what cloud-native infrastructure costs a machine-learning workflow.

A reproduction and extension of Nguyen (2020), "Machine Learning Model Management
using Cloud-Native Technologies for IoT". Every module here is plain Python: the
Snakemake rules and DVC stages only call the ``mlopsbench`` command line.
"""

__version__ = "0.1.0"
