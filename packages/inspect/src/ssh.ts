// @leapp/inspect/ssh: the SSH client the live-host source uses, for other work on remote hosts
// (streaming images to a container host, running podman there).
export { connectSsh, shellQuote, type SftpAttributes, type SftpFile, type SshConnection, type SshConnectOptions, type SshExecOptions, type SshExecResult, type SshSftp } from "./guestfs/ssh-client.js";
export { InspectError, type InspectErrorCode } from "./errors.js";
