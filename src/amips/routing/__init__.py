"""routing — sending a query to a few groups of keys instead of all of them. "Router" means two things here:

* the **k-means router task** (:mod:`~amips.routing.clusters`): a multi-output model predicts the best score inside
  each k-means cluster, and a query scans its top-r clusters exactly (match rate vs keys scanned, against centroid
  routing);
* the **list routers** over an IVF index's own lists (:mod:`~amips.routing.list_routers`, behind a registry: plain
  IVF's centroids, the learned linear LTR router, a multi-output AMIPS model, the residual correction and the
  untrained ellipsoid router of :mod:`~amips.routing.ellipsoid`), what they are fitted on and return
  (:mod:`~amips.routing.router_data`), and the routed IVF sweep that probes the lists they choose and ranks the
  candidates with the natural query (:mod:`~amips.routing.routed`).

The routing term of the training loss (``training.routing: oracle_ce``) is a loss term like the retrieval terms and
stays in :mod:`amips.training.routing_terms`: the training loop imports it, and this wing imports the training loop.

May import: ``training``, ``evaluation``, ``index``, ``exact``, ``models``, ``reporting``, ``data``, ``core``.
"""
