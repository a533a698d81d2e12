"""Method building blocks that several suites share, one module per noun.

A suite never imports another suite's package; what two or more suites need lives here instead:

- :mod:`bench.methods.views`: :class:`~bench.methods.views.Views` (posed images of one scene with their
  cameras), the built-in multi-view renders, NeRF Blender scenes, and the book's cow
  (``resolve_mesh``). Used by ``volumes`` and ``nerf``.
- :mod:`bench.methods.volumetric`: raymarching helpers (pseudo-Huber loss, background compositing,
  sampling images at NDC ray positions, chunked marching). Used by ``volumes`` and ``nerf``.
- :mod:`bench.methods.heldout`: held-out scoring of renders with the harness's metrics (PSNR, SSIM,
  silhouette IoU, LPIPS) and the render-vs-truth strip. Used by ``volumes`` and ``nerf``.
- :mod:`bench.methods.budget`: the memory check made before a fit starts. Used by ``volumes`` and ``nerf``.
- :mod:`bench.methods.body_model` and :mod:`bench.methods.procedural_body`: a body model with SMPL's maths and
  call signature, and the built-in procedural body. Used by the ``body-fits`` generator and ``smplify``.
- :mod:`bench.methods.single_view`: one image -> one shape in the camera's frame (items of the ShapeNet-like
  or R2N2-style data, view-frame voxels, the projection for vert_align, the CNN encoder, the mean-shape
  baseline); :mod:`bench.methods.shape_eval`: Mesh R-CNN-protocol scoring per category, tables, renders;
  :mod:`bench.methods.predictions`: a folder of user-predicted meshes. Used by ``meshrcnn`` and ``single_view``.

What only one suite uses stays in that suite's package (the voxel grid in ``suites/volumes``, the
radiance field MLP and its training loop in ``suites/nerf``).
"""
