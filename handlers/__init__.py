"""aiogram routers, one module per feature: parse, call storage, render."""
