
mod replay;
