// debian-12 (debootstrap minbase + openssh-server + apache2, separate /boot, fstab by UUID): the
// zoo checks of inspect-zoo.int.test.ts, in the slow tier because building it runs debootstrap.
import { describeZooGuest } from "../testing/zoo-expectations.js";

describeZooGuest("debian-12");
