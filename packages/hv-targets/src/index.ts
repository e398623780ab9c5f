export { convert, summarizeChanges, type ChangeSummary, type ConvertOptions, type ConvertResult, type SourceSummary } from "./convert.js";
export { HvTargetsError, type HvTargetsErrorCode } from "./errors.js";
export { readInput, type ReadInputOptions } from "./input.js";
export type { HVSource, UnconfigureContext } from "./hv-source.js";
export type { ConfigureContext, HVTarget } from "./hv-target.js";
export { sourceDrivers, chooseSource } from "./sources/index.js";
export { kvmTarget } from "./targets/kvm.js";
export { qemuArguments } from "./outputs/qemu.js";
export type { Conversion, InputKind, Inspection, OutputKind, Source, SourceDisk, SourceHypervisor, StorageStrategy, Target, TargetDisk } from "./types.js";
