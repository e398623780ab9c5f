import type { RegisterCommand } from "../program.js";
import { registerSource } from "./source.js";
import { registerInspect } from "./inspect.js";
import { registerStorage } from "./storage.js";
import { registerNet } from "./net.js";
import { registerContainerize } from "./containerize.js";
import { registerMigrate } from "./migrate.js";
import { registerCheckTarget } from "./check-target.js";
import { registerDestroyContainer } from "./destroy-container.js";
import { registerCustomize } from "./customize.js";
import { registerConvert } from "./convert.js";

/** Every `leapp` subcommand, in the order `leapp --help` lists them. One file per command group. */
export const commands: RegisterCommand[] = [
  registerSource,
  registerInspect,
  registerStorage,
  registerNet,
  registerContainerize,
  registerMigrate,
  registerCheckTarget,
  registerDestroyContainer,
  registerCustomize,
  registerConvert,
];
