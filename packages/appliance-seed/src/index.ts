// @leapp/appliance-seed exports nothing yet: it arrives with the appliance work (see README).
export {};
