/** One installed package, with the fields virt-inspector reports for it (and a few more). */
export interface Application {
  name: string;
  /** 0 when the package has none. */
  epoch: number;
  version: string;
  release: string;
  arch: string;
  summary?: string;
  url?: string;
  sourcePackage?: string;
}

/** Most packages listed from one package database (a real system has a few thousand); more is a warning. */
export const MAX_PACKAGES = 200_000;
