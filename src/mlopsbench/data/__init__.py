"""The study's inputs (thesis Sections 5.3.1-5.3.2 and 4.2): ``download`` fetches and checks
the Intel Lab file, ``intel_lab`` keeps one mote's complete readings, ``datasets`` repeats
them to a size, ``models`` builds the regression and the upload models, and ``synthetic``
writes files in the published format (and tidy tables shaped like a study's) for offline
trials and tests."""
