// @leapp/guestos exports nothing yet: its GuestOS drivers arrive with the conversion work (see README).
export {};
