"""What an image's root filesystems record about their packages (dpkg, apk, rpm, Python
distributions, Go modules), read from CPIO payloads in place; who owns an entry; what changed
between two images; and versions that must never ship.

`eifdiff.packages.inventory.inventory(image)` lists an image's packages (the function is not
re-exported here, so that `eifdiff.packages.inventory` stays the module).
"""

from eifdiff.packages.inventory import owner_index, owner_of, package_changes, ramdisk_packages
from eifdiff.packages.known_bad import Warning, upstream_version, warnings
from eifdiff.packages.model import ECOSYSTEMS, Package, PackageChange

__all__ = [
    "ECOSYSTEMS",
    "Package",
    "PackageChange",
    "Warning",
    "owner_index",
    "owner_of",
    "package_changes",
    "ramdisk_packages",
    "upstream_version",
    "warnings",
]
