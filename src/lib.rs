//! cosocket: OpenResty's cosocket TCP API for plain LuaJIT and C.

pub mod receive;
