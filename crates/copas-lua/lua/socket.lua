local core = require("socket.core")
return core
