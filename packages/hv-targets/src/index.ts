// @leapp/hv-targets exports nothing yet: its HVSource/HVTarget drivers arrive with the conversion work (see README).
export {};
