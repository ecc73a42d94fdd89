"""The engines of the commands and their stages: ``run`` (``pipeline``), ``validate``
(``dryrun``, ``fastcheck``) and ``demo``; the stages they share (``prepare``, ``sender``,
``recorder``, ``progress``, ``control``, ``workspace``); ``options`` turns the settings into each
component's own small options.
"""
