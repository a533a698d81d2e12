"""Rotations and 3D transforms with PyTorch3D's names (``pytorch3d.transforms``)."""

from .rotation_conversions import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    euler_angles_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler_angles,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_apply,
    quaternion_invert,
    quaternion_multiply,
    quaternion_raw_multiply,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    random_quaternions,
    random_rotation,
    random_rotations,
    rotation_6d_to_matrix,
    standardize_quaternion,
)
from .so3 import (
    acos_linear_extrapolation,
    hat,
    hat_inv,
    se3_exp_map,
    se3_log_map,
    so3_exp_map,
    so3_log_map,
    so3_relative_angle,
    so3_rotation_angle,
)
from .transform3d import Rotate, RotateAxisAngle, Scale, Transform3d, Translate, stack_transforms

__all__ = [
    "Rotate", "RotateAxisAngle", "Scale", "Transform3d", "Translate", "acos_linear_extrapolation",
    "axis_angle_to_matrix", "axis_angle_to_quaternion", "euler_angles_to_matrix", "hat", "hat_inv",
    "matrix_to_axis_angle", "matrix_to_euler_angles", "matrix_to_quaternion", "matrix_to_rotation_6d",
    "quaternion_apply", "quaternion_invert", "quaternion_multiply", "quaternion_raw_multiply",
    "quaternion_to_axis_angle", "quaternion_to_matrix", "random_quaternions", "random_rotation",
    "random_rotations", "rotation_6d_to_matrix", "se3_exp_map", "se3_log_map", "so3_exp_map", "so3_log_map",
    "so3_relative_angle", "so3_rotation_angle", "stack_transforms", "standardize_quaternion",
]
