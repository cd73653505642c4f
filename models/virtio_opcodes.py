"""The virtio 1.4 admin opcodes as the model sees them: families, groups, enabled-set classes.

LIST_USE replaces a group's enabled opcode set with any bitmap (D-GA-8). The model keeps a
few classes of sets that drivers send (the spec-exact ones and Linux's); every other bitmap
is `other`, a set in which any modelled opcode may or may not be enabled: sound, only less
precise. A class says, for each opcode family, whether the whole family is enabled.
"""

from __future__ import annotations

GROUP_SELF, GROUP_SRIOV, GROUP_BAD = 0, 1, 2

# opcode families: the model's commands of one family are enabled or disabled together
FAMILIES = {
    "list": frozenset({0x0, 0x1}),                    # LIST_QUERY, LIST_USE
    "caps": frozenset({0x7, 0x8, 0x9}),               # CAP_ID_LIST_QUERY, DEVICE_CAP_GET, DRIVER_CAP_SET (D-CAP-1)
    "objects": frozenset({0xA, 0xD}),                 # RESOURCE_OBJ_CREATE, RESOURCE_OBJ_DESTROY
    "modify": frozenset({0xB, 0xC}),                  # RESOURCE_OBJ_QUERY and MODIFY (numbering: Q2)
    "parts": frozenset({0xE, 0xF, 0x10, 0x11}),       # METADATA_GET, GET, SET, MODE_SET
}
MODELLED = frozenset().union(*FAMILIES.values())
FAMILY_OF = {
    "LIST_QUERY": "list", "LIST_USE": "list",
    "CAP_ID_LIST_QUERY": "caps", "DEVICE_CAP_GET": "caps", "DRIVER_CAP_SET": "caps",
    "RESOURCE_OBJ_CREATE": "objects", "RESOURCE_OBJ_DESTROY": "objects",
    "RESOURCE_OBJ_MODIFY": "modify", "RESOURCE_OBJ_QUERY": "modify",
    "DEV_PARTS_METADATA_GET": "parts", "DEV_PARTS_GET": "parts", "DEV_PARTS_SET": "parts", "DEV_MODE_SET": "parts",
}
# the SR-IOV commands that name a member (D-GA-1's member check applies to them)
SRIOV_COMMANDS = ("RESOURCE_OBJ_CREATE", "RESOURCE_OBJ_DESTROY", "RESOURCE_OBJ_MODIFY", "RESOURCE_OBJ_QUERY",
                  "DEV_PARTS_METADATA_GET", "DEV_PARTS_GET", "DEV_PARTS_SET", "DEV_MODE_SET")
# commands the model gives no meaning: the legacy interface and opcodes the profile lacks
OPAQUE_COMMANDS = ("LEGACY_COMMON_CFG_WRITE", "LEGACY_COMMON_CFG_READ", "LEGACY_DEV_CFG_WRITE",
                   "LEGACY_DEV_CFG_READ", "LEGACY_NOTIFY_INFO", "UNKNOWN")

# enabled-set classes per group: the families each enables ("other" is unknown)
SELF_CLASSES = {
    "base": frozenset({"list"}),                       # after a reset (D-GA-7)
    "caps": frozenset({"list", "caps"}),
    "caps_nolist": frozenset({"caps"}),                # LIST_QUERY/LIST_USE disabled (R-GA-7)
    "none": frozenset(),
}
SRIOV_CLASSES = {
    "base": frozenset({"list"}),
    "bundle": frozenset({"list", "objects", "modify", "parts"}),   # the whole D-DP-1 bundle
    "bundle_nolist": frozenset({"objects", "modify", "parts"}),
    "linux": frozenset({"caps", "objects", "parts"}),              # Linux: caps on SR-IOV (T1), no MODIFY/QUERY (T4)
    "parts_list": frozenset({"list", "objects", "parts"}),         # the bundle without MODIFY/QUERY (D-GA-5 MAY refuse)
    "parts_nolist": frozenset({"objects", "parts"}),
    "none": frozenset(),
}
SELF_SETS = tuple(SELF_CLASSES) + ("other",)
SRIOV_SETS = tuple(SRIOV_CLASSES) + ("other",)
# sets a device may refuse (D-GA-5): they break the bundle's dependencies (D-DP-1) or name
# opcodes the group does not support
PARTIAL_SETS = ("linux", "parts_list", "parts_nolist", "other")


def enabled_in(group: int, cls: str, family: str) -> bool:
    """Whether class `cls` of `group` enables `family` (never called for `other`)."""
    table = SELF_CLASSES if group == GROUP_SELF else SRIOV_CLASSES
    return family in table[cls]


def classify(group: int, opcodes: set[int]) -> str:
    """The class of a LIST_USE bitmap for a group: which families it enables whole; a
    family enabled in part, or a family the group's classes never enable, makes it `other`.
    A bitmap naming any other opcode (legacy, unknown) is `other` too: a device may refuse
    it (R-GA-5, D-GA-5) and what it enables is not modelled."""
    if opcodes - MODELLED:
        return "other"
    on = set()
    for family, ops in FAMILIES.items():
        have = ops & opcodes
        if have == ops:
            on.add(family)
        elif have:
            return "other"
    table = SELF_CLASSES if group == GROUP_SELF else SRIOV_CLASSES
    return next((name for name, fams in table.items() if fams == on), "other")


def group_of(group_type: int) -> int:
    """Self, SR-IOV, or the one reserved group standing for 2..0xFFFF."""
    return group_type if group_type in (GROUP_SELF, GROUP_SRIOV) else GROUP_BAD


def lists_complete(group: int, opcodes: set[int]) -> bool:
    """A LIST_QUERY answer has bits 0 and 1 (always) and the group's whole command set:
    the capability commands for Self (D-CAP-1), the dev-parts bundle for SR-IOV (D-DP-1)."""
    needed = FAMILIES["list"] | (FAMILIES["caps"] if group == GROUP_SELF else
                                 FAMILIES["objects"] | FAMILIES["modify"] | FAMILIES["parts"])
    return needed <= opcodes
