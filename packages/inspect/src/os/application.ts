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
