"""From tidy tables to the report: ``stats`` (intervals, trends, equivalence), ``analysis``
(every statistic and the thesis's claims judged, into one ``bundle.StatsBundle``),
``figures`` (drawn under ``figure_registry``'s entries) and ``report`` (the PDF beside the
thesis's published numbers, ``thesis_reference.yaml``)."""
