"""What exists, as data: the controls (``controls/*.yaml``), where their peer mappings come from
(``peer_sources.yaml``), and one loader and validator. Nothing here knows a control's logic."""
