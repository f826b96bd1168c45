
mod replay;
mod sim;
