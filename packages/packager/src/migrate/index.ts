// The public face of the migration: what `leapp migrate-machine`, `check-target` and
// `destroy-container` call, and what the migrator's UI will.
export { migrateMachine, planMigration, type MigrateOptions, type MigrationPlan, type MigrationResult, type MigrationTimings } from "./migrate.js";
export { checkTarget, destroyContainer, type DestroyResult, type TargetCheck } from "./target.js";
export type { HostContainer, RuntimeInfo, RuntimeName, TargetOptions } from "./container-host.js";
export type { PublishedPort } from "./host-ports.js";
export { planPortMap, parsePortRequest, defaultPortMoves, type PortMapOptions, type PortMapping, type PortProtocol, type PortRequest, type SourcePort, type TakenPorts } from "./port-map.js";
