// Every integration-tier zoo guest (real images made with mkfs/sfdisk/rpm/qemu-img), in every
// container format: the same report each time, matching the zoo's hand-written ground truth, and
// virt-inspector XML that xmllint validates against virt-inspector's own RELAX NG schema.
// (debian-12, built with debootstrap, gets the same checks in inspect-zoo.slow.test.ts.)
import { describeZooGuest } from "../testing/zoo-expectations.js";

describeZooGuest("el6-xen");
describeZooGuest("el7-vmware");
describeZooGuest("el9-like");
