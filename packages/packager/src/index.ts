// @leapp/packager exports nothing yet: its writers arrive with the packaging work (see README).
export {};
