"""Who may do what to photond: identities, roles, TLS, per-identity limits, the audit log.

`settings` reads the config's [security] table; `access` turns it into the policy in force
(and `AccessControl.reload` swaps in a new one); `interceptor` applies it to every call;
`tls` makes the TCP listeners' credentials; `files` sets the modes of the socket, the state
directory and the journal; `hash-token` makes tokens. With roles by uid/gid, `splice` accepts
on the Unix socket and `peercred` reads each caller's credentials and their role. The role
table is in `roles` and, for people, in docs/security.md.
"""
