"""eifdiff.consistency: parts of PCR1 that cannot work together."""

from __future__ import annotations

from eifdiff.consistency import Part, check

KERNEL_61 = Part("kernel", "kernel", "x86_64", "6.1.0-47-cloud-amd64")
MODULE_414 = Part("ramdisk[0]:nsm.ko", "module", "x86_64", "4.14.256-209.484.amzn2.x86_64",
                  "4.14.256-209.484.amzn2.x86_64 SMP mod_unload modversions ")


def test_consistent_parts_give_nothing() -> None:
    kernel = Part("kernel", "kernel", "x86_64", "4.14.256-209.484.amzn2.x86_64")
    init = Part("ramdisk[0]:init", "init", "x86_64")
    assert check("x86_64", [kernel, init, MODULE_414]) == ()


def test_module_for_another_kernel_names_both_releases() -> None:
    (w,) = check("x86_64", [KERNEL_61, MODULE_414])
    assert (w.kind, w.path, w.found, w.expected) == (
        "module-release", "ramdisk[0]:nsm.ko", "4.14.256-209.484.amzn2.x86_64",
        "6.1.0-47-cloud-amd64")
    assert "4.14.256-209.484.amzn2.x86_64" in w.message and "6.1.0-47-cloud-amd64" in w.message
    assert "cannot load" in w.message
    assert str(w).startswith("ramdisk[0]:nsm.ko: module built for kernel 4.14.256")


def test_architecture_disagreements() -> None:
    arm_kernel = Part("kernel", "kernel", "aarch64", "4.14.256-209.484.amzn2.aarch64")
    got = check("x86_64", [arm_kernel, Part("ramdisk[0]:init", "init", "x86_64")])
    assert [(w.kind, w.path, w.found, w.expected) for w in got] == [
        ("architecture", "kernel", "aarch64", "x86_64"),
        ("architecture", "ramdisk[0]:init", "x86_64", "aarch64")]
    assert got[0].message == "aarch64 kernel in an x86_64 image (EIF header flags say x86_64)"
    x86_kernel = Part("kernel", "kernel", "x86", None)  # a bzImage read no further
    got = check("aarch64", [x86_kernel, Part("ramdisk[0]:init", "init", "x86_64")])
    assert [(w.path, w.found, w.expected) for w in got] == [
        ("kernel", "x86", "aarch64"), ("ramdisk[0]:init", "x86_64", "aarch64")]
    assert check("x86_64", [x86_kernel]) == ()
    module = Part("ramdisk[0]:nsm.ko", "module", "aarch64", "4.14.256")
    got = check("aarch64", [Part("kernel", "kernel", "aarch64", "4.14.256"), module])
    assert got == ()
    assert check("x86_64", [Part("kernel", "kernel", None, None), MODULE_414]) == ()
