"""Cameras with PyTorch3D's names and conventions.

World/view: +X left, +Y up, +Z into the screen, ``p_view = p_world @ R + T``. NDC: +X left,
+Y up, (+1, +1) top-left, the shorter image side spans [-1, 1]. Screen: pixels, +X right,
+Y down, origin at the top-left corner.
"""

from __future__ import annotations

import math

import torch

from ..transforms import Transform3d
from .camera_utils import (  # noqa: F401  (re-exported as in pytorch3d.renderer.cameras)
    camera_position_from_spherical_angles,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)
from .utils import TensorProperties

Device = str | torch.device
_R = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


class CamerasBase(TensorProperties):
    """A batch of cameras; subclasses define ``get_projection_transform`` (view -> NDC or screen)."""

    _FIELDS: tuple[str, ...] = ("R", "T", "K")
    _SHARED_FIELDS: tuple[str, ...] = ()

    def _init_extrinsics(self, R, T) -> None:
        if self.R.dim() != 3 or self.R.shape[1:] != (3, 3):
            raise ValueError(f"R: expected shape (N, 3, 3), got {tuple(self.R.shape)}")
        if self.T.dim() != 2 or self.T.shape[1] != 3:
            raise ValueError(f"T: expected shape (N, 3), got {tuple(self.T.shape)}")

    def get_projection_transform(self, **kwargs) -> Transform3d:
        raise NotImplementedError

    def is_perspective(self) -> bool:
        raise NotImplementedError

    def in_ndc(self) -> bool:
        return True

    def get_znear(self):
        return getattr(self, "znear", None)

    def get_image_size(self):
        return getattr(self, "image_size", None)

    def get_world_to_view_transform(self, **kwargs) -> Transform3d:
        """World -> view transform; ``R``/``T`` in kwargs replace the stored ones (as PyTorch3D does)."""
        self.R = kwargs.get("R", self.R)
        self.T = kwargs.get("T", self.T)
        return get_world_to_view_transform(R=self.R, T=self.T)

    def get_full_projection_transform(self, **kwargs) -> Transform3d:
        """World -> camera projection space (NDC, or screen for ``in_ndc() == False``)."""
        w2v = self.get_world_to_view_transform(**kwargs)
        return w2v.compose(self.get_projection_transform(**kwargs))

    def transform_points(self, points: torch.Tensor, eps: float | None = None, **kwargs) -> torch.Tensor:
        """World points (P, 3) or (N, P, 3) -> projection space (x, y, depth-like z)."""
        return self.get_full_projection_transform(**kwargs).transform_points(points, eps=eps)

    def get_camera_center(self, **kwargs) -> torch.Tensor:
        """Camera centres (N, 3) in world coordinates: the point that maps to the view origin."""
        w2v = self.get_world_to_view_transform(**kwargs)
        return w2v.inverse().get_matrix()[:, 3, :3]

    def get_ndc_camera_transform(self, **kwargs) -> Transform3d:
        """Projection space -> NDC: identity for NDC cameras, a pixel rescaling for screen-space ones."""
        if self.in_ndc():
            return Transform3d(device=self.device, dtype=self.R.dtype)
        image_size = kwargs.get("image_size", self.get_image_size())
        return get_screen_to_ndc_transform(self, with_xyflip=False, image_size=image_size)

    def transform_points_ndc(self, points: torch.Tensor, eps: float | None = None, **kwargs) -> torch.Tensor:
        """World points (N, P, 3) -> NDC (z keeps the camera's depth-like value)."""
        tf = self.get_full_projection_transform(**kwargs)
        if not self.in_ndc():
            tf = tf.compose(self.get_ndc_camera_transform(**kwargs))
        return tf.transform_points(points, eps=eps)

    def transform_points_screen(self, points: torch.Tensor, eps: float | None = None, with_xyflip: bool = True,
                                **kwargs) -> torch.Tensor:
        """World points (N, P, 3) -> pixel coordinates (+X right, +Y down when ``with_xyflip``)."""
        image_size = kwargs.get("image_size", self.get_image_size())
        ndc = self.transform_points_ndc(points, eps=eps, **kwargs)
        return get_ndc_to_screen_transform(self, with_xyflip=with_xyflip, image_size=image_size).transform_points(ndc)

    def unproject_points(self, xy_depth: torch.Tensor, world_coordinates: bool = True, from_ndc: bool = False,
                         **kwargs) -> torch.Tensor:
        """Points (..., 3) = (x, y, view depth) in projection space -> world (or view) coordinates."""
        raise NotImplementedError

    def clone(self) -> CamerasBase:
        kwargs = {f: getattr(self, f) for f in self._FIELDS if hasattr(self, f)}
        kwargs = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in kwargs.items()}
        for f in self._SHARED_FIELDS:
            kwargs[f.lstrip("_")] = getattr(self, f)
        return self.__class__(device=self.device, **kwargs)

    def __getitem__(self, index: int | list | torch.Tensor) -> CamerasBase:
        """The cameras at ``index`` (int, list of ints, or a bool/long tensor) as a new object."""
        if isinstance(index, int):
            index = [index]
        if isinstance(index, torch.Tensor) and index.dtype == torch.bool:
            index = index.nonzero().view(-1)
        if not isinstance(index, (list, torch.Tensor)):
            raise ValueError(f"index: expected int, list or tensor, got {type(index).__name__}")
        kwargs = {}
        for f in self._FIELDS:
            v = getattr(self, f, None)
            kwargs[f] = v[index] if torch.is_tensor(v) and v.shape[0] == self._N else v
        for f in self._SHARED_FIELDS:
            kwargs[f.lstrip("_")] = getattr(self, f)
        return self.__class__(device=self.device, **kwargs)


def _fov_perspective_matrix(znear, zfar, fov, aspect_ratio, degrees: bool) -> torch.Tensor:
    """OpenGL-style projection (N, 4, 4) in column form, mapping view depth to [0, 1] between znear and zfar."""
    if degrees:
        fov = fov * (math.pi / 180.0)
    tan_half = torch.tan(fov / 2)
    max_y = znear * tan_half
    max_x = max_y * aspect_ratio
    K = znear.new_zeros(znear.shape[0], 4, 4)
    K[:, 0, 0] = 2.0 * znear / (2.0 * max_x)
    K[:, 1, 1] = 2.0 * znear / (2.0 * max_y)
    K[:, 3, 2] = 1.0
    K[:, 2, 2] = zfar / (zfar - znear)
    K[:, 2, 3] = -(zfar * znear) / (zfar - znear)
    return K


class FoVPerspectiveCameras(CamerasBase):
    """OpenGL-style perspective cameras given a field of view; NDC depth runs 0 (znear) to 1 (zfar)."""

    _FIELDS = ("K", "R", "T", "znear", "zfar", "aspect_ratio", "fov", "degrees")

    def __init__(self, znear=1.0, zfar=100.0, aspect_ratio=1.0, fov=60.0, degrees: bool = True,
                 R: torch.Tensor | None = None, T: torch.Tensor | None = None, K: torch.Tensor | None = None,
                 device: Device = "cpu") -> None:
        R = (_R,) if R is None else R
        T = ((0.0, 0.0, 0.0),) if T is None else T
        super().__init__(device=device, znear=znear, zfar=zfar, aspect_ratio=aspect_ratio, fov=fov, R=R, T=T, K=K)
        self.degrees = degrees
        self._init_extrinsics(R, T)

    def compute_projection_matrix(self, znear, zfar, fov, aspect_ratio, degrees: bool) -> torch.Tensor:
        """The (N, 4, 4) projection matrix in column-vector form."""
        return _fov_perspective_matrix(znear, zfar, fov, aspect_ratio, degrees)

    def get_projection_transform(self, **kwargs) -> Transform3d:
        K = kwargs.get("K", self.K)
        if K is None:
            K = self.compute_projection_matrix(
                kwargs.get("znear", self.znear), kwargs.get("zfar", self.zfar), kwargs.get("fov", self.fov),
                kwargs.get("aspect_ratio", self.aspect_ratio), kwargs.get("degrees", self.degrees))
        elif K.shape[1:] != (4, 4):
            raise ValueError(f"K: expected shape (N, 4, 4), got {tuple(K.shape)}")
        return Transform3d(matrix=K.transpose(1, 2).contiguous())

    def unproject_points(self, xy_depth: torch.Tensor, world_coordinates: bool = True,
                         scaled_depth_input: bool = False, **kwargs) -> torch.Tensor:
        """NDC (x, y) plus view depth (or NDC depth if ``scaled_depth_input``) -> world/view points."""
        return _unproject_fov(self, xy_depth, world_coordinates, scaled_depth_input, **kwargs)

    def is_perspective(self) -> bool:
        return True


class FoVOrthographicCameras(CamerasBase):
    """OpenGL-style orthographic cameras given the view volume bounds; NDC depth 0 at znear, 1 at zfar."""

    _FIELDS = ("K", "R", "T", "znear", "zfar", "max_y", "min_y", "max_x", "min_x", "scale_xyz")

    def __init__(self, znear=1.0, zfar=100.0, max_y=1.0, min_y=-1.0, max_x=1.0, min_x=-1.0,
                 scale_xyz=((1.0, 1.0, 1.0),), R: torch.Tensor | None = None, T: torch.Tensor | None = None,
                 K: torch.Tensor | None = None, device: Device = "cpu") -> None:
        R = (_R,) if R is None else R
        T = ((0.0, 0.0, 0.0),) if T is None else T
        super().__init__(device=device, znear=znear, zfar=zfar, max_y=max_y, min_y=min_y, max_x=max_x,
                         min_x=min_x, scale_xyz=scale_xyz, R=R, T=T, K=K)
        self._init_extrinsics(R, T)

    def compute_projection_matrix(self, znear, zfar, max_x, min_x, max_y, min_y, scale_xyz) -> torch.Tensor:
        K = znear.new_zeros(znear.shape[0], 4, 4)
        K[:, 0, 0] = 2.0 / (max_x - min_x) * scale_xyz[:, 0]
        K[:, 1, 1] = 2.0 / (max_y - min_y) * scale_xyz[:, 1]
        K[:, 0, 3] = -(max_x + min_x) / (max_x - min_x)
        K[:, 1, 3] = -(max_y + min_y) / (max_y - min_y)
        K[:, 2, 2] = scale_xyz[:, 2] / (zfar - znear)
        K[:, 2, 3] = -znear / (zfar - znear)
        K[:, 3, 3] = 1.0
        return K

    def get_projection_transform(self, **kwargs) -> Transform3d:
        K = kwargs.get("K", self.K)
        if K is None:
            names = ("znear", "zfar", "max_x", "min_x", "max_y", "min_y", "scale_xyz")
            K = self.compute_projection_matrix(*(kwargs.get(n, getattr(self, n)) for n in names))
        return Transform3d(matrix=K.transpose(1, 2).contiguous())

    def unproject_points(self, xy_depth: torch.Tensor, world_coordinates: bool = True,
                         scaled_depth_input: bool = False, **kwargs) -> torch.Tensor:
        """NDC (x, y) plus view depth (or NDC depth if ``scaled_depth_input``) -> world/view points."""
        return _unproject_fov(self, xy_depth, world_coordinates, scaled_depth_input, **kwargs)

    def is_perspective(self) -> bool:
        return False


def _unproject_fov(cams: CamerasBase, xy_depth: torch.Tensor, world_coordinates: bool,
                   scaled_depth_input: bool, **kwargs) -> torch.Tensor:
    """Invert a FoV camera's projection; view depth z maps to NDC depth as its matrix does
    ((a z + b) / z for perspective, a z + b for orthographic)."""
    to_ndc = cams.get_full_projection_transform(**kwargs) if world_coordinates \
        else cams.get_projection_transform(**kwargs)
    if not scaled_depth_input:
        K = cams.get_projection_transform(**kwargs).get_matrix()
        shape = [K.shape[0]] + [1] * (xy_depth.dim() - 1)
        a, b = K[:, 2, 2].reshape(shape), K[:, 3, 2].reshape(shape)
        depth = xy_depth[..., 2:3]
        ndc_depth = a * depth + b
        if cams.is_perspective():
            ndc_depth = ndc_depth / depth
        xy_depth = torch.cat((xy_depth[..., :2], ndc_depth), -1)
    return to_ndc.inverse().transform_points(xy_depth)


def _sfm_calibration(n: int, focal_length: torch.Tensor, principal_point: torch.Tensor,
                     orthographic: bool) -> torch.Tensor:
    """Column-form (N, 4, 4) intrinsics; perspective ones put 1/z in the depth slot."""
    fl = focal_length if focal_length.dim() == 2 else focal_length.view(-1, 1)
    fx, fy = (fl[:, 0], fl[:, 0]) if fl.shape[1] == 1 else fl.unbind(1)
    px, py = principal_point.unbind(1)
    K = fx.new_zeros(n, 4, 4)
    K[:, 0, 0], K[:, 1, 1] = fx, fy
    if orthographic:
        K[:, 0, 3], K[:, 1, 3], K[:, 2, 2], K[:, 3, 3] = px, py, 1.0, 1.0
    else:
        K[:, 0, 2], K[:, 1, 2], K[:, 3, 2], K[:, 2, 3] = px, py, 1.0, 1.0
    return K


class _SfMCameras(CamerasBase):
    """Shared code of PerspectiveCameras and OrthographicCameras (intrinsics in NDC or in pixels)."""

    _FIELDS = ("K", "R", "T", "focal_length", "principal_point", "image_size")
    _SHARED_FIELDS = ("_in_ndc",)
    _ORTHO = False

    def __init__(self, focal_length=1.0, principal_point=((0.0, 0.0),), R: torch.Tensor | None = None,
                 T: torch.Tensor | None = None, K: torch.Tensor | None = None, device: Device = "cpu",
                 in_ndc: bool = True, image_size=None) -> None:
        R = (_R,) if R is None else R
        T = ((0.0, 0.0, 0.0),) if T is None else T
        kwargs = {} if image_size is None else {"image_size": image_size}
        super().__init__(device=device, focal_length=focal_length, principal_point=principal_point, R=R, T=T,
                         K=K, **kwargs)
        if image_size is not None:
            self.image_size = self.image_size.view(-1, 2)
            if self.image_size.shape[0] != self._N:
                self.image_size = self.image_size.expand(self._N, 2)
        elif not in_ndc:
            raise ValueError("image_size: required as (height, width) when in_ndc=False")
        self._in_ndc = in_ndc
        self._init_extrinsics(R, T)

    def get_projection_transform(self, **kwargs) -> Transform3d:
        K = kwargs.get("K", self.K)
        if K is None:
            K = _sfm_calibration(self._N, kwargs.get("focal_length", self.focal_length),
                                 kwargs.get("principal_point", self.principal_point), self._ORTHO)
        return Transform3d(matrix=K.transpose(1, 2).contiguous())

    def get_principal_point(self, **kwargs) -> torch.Tensor:
        return self.get_projection_transform(**kwargs).get_matrix()[:, 2 if not self._ORTHO else 3, :2]

    def get_ndc_camera_transform(self, **kwargs) -> Transform3d:
        """Screen-space intrinsics -> NDC, handling the principal point given in image axes (+X right)."""
        if self.in_ndc():
            return Transform3d(device=self.device, dtype=self.R.dtype)
        fix = torch.eye(4, dtype=self.R.dtype, device=self.device).repeat(self._N, 1, 1)
        fix[:, 3, :2] = -2.0 * self.get_principal_point(**kwargs)
        image_size = kwargs.get("image_size", self.get_image_size())
        return Transform3d(matrix=fix).compose(get_screen_to_ndc_transform(self, False, image_size))

    def unproject_points(self, xy_depth: torch.Tensor, world_coordinates: bool = True, from_ndc: bool = False,
                         **kwargs) -> torch.Tensor:
        tf = self.get_full_projection_transform(**kwargs) if world_coordinates \
            else self.get_projection_transform(**kwargs)
        if from_ndc:
            tf = tf.compose(self.get_ndc_camera_transform(**kwargs))
        depth = xy_depth[..., 2:3]
        zed = depth if self._ORTHO else torch.reciprocal(depth)
        return tf.inverse().transform_points(torch.cat((xy_depth[..., :2], zed), -1))

    def in_ndc(self) -> bool:
        return self._in_ndc


class PerspectiveCameras(_SfMCameras):
    """Pinhole cameras from focal length and principal point (NDC units, or pixels with in_ndc=False)."""

    def is_perspective(self) -> bool:
        return True


class OrthographicCameras(_SfMCameras):
    """Orthographic cameras from scale (focal_length) and principal point (NDC units or pixels)."""

    _ORTHO = True

    def is_perspective(self) -> bool:
        return False


def _image_hw(cameras: CamerasBase, image_size) -> tuple[torch.Tensor, torch.Tensor]:
    if image_size is None:
        raise ValueError("image_size: (height, width) is required for conversions between NDC and screen")
    t = image_size if torch.is_tensor(image_size) else torch.tensor(image_size, device=cameras.device)
    t = t.to(device=cameras.device, dtype=cameras.R.dtype).view(-1, 2)
    return t[:, 0], t[:, 1]


def get_ndc_to_screen_transform(cameras: CamerasBase, with_xyflip: bool = False, image_size=None) -> Transform3d:
    """NDC -> pixels: scale by min(H, W)/2 and shift by the image centre (flip x, y if ``with_xyflip``)."""
    h, w = _image_hw(cameras, image_size)
    scale = torch.minimum(h, w) / 2.0
    M = torch.zeros(cameras._N if h.shape[0] == 1 else h.shape[0], 4, 4, dtype=h.dtype, device=h.device)
    M[:, 0, 0] = scale
    M[:, 1, 1] = scale
    M[:, 3, 0] = -w / 2.0
    M[:, 3, 1] = -h / 2.0
    M[:, 2, 2] = 1.0
    M[:, 3, 3] = 1.0
    tf = Transform3d(matrix=M)
    if with_xyflip:
        flip = torch.diag(torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=h.dtype, device=h.device))
        tf = tf.compose(Transform3d(matrix=flip))
    return tf


def get_screen_to_ndc_transform(cameras: CamerasBase, with_xyflip: bool = False, image_size=None) -> Transform3d:
    """Pixels -> NDC; inverse of :func:`get_ndc_to_screen_transform`."""
    return get_ndc_to_screen_transform(cameras, with_xyflip=with_xyflip, image_size=image_size).inverse()


# Historical aliases kept by PyTorch3D.
OpenGLPerspectiveCameras = FoVPerspectiveCameras
OpenGLOrthographicCameras = FoVOrthographicCameras
SfMPerspectiveCameras = PerspectiveCameras
SfMOrthographicCameras = OrthographicCameras
