export declare const variants: Record<string, string[]>;
export declare function cacheRoot(): string;
export declare function virtInstallCorpus(): Promise<{ name: string; path: string; xml: string }[]>;
