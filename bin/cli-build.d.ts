export declare const CLI_STAMP: string;
export declare function cliBuildState(rootUrl: URL): 'missing' | 'stale' | 'current';
