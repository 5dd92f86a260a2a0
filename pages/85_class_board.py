"""Class board — a room's runs side by side: everyone posts a run, the class compares β, schedules and ELBOs."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from ui import board, board_panels

st.title("Class board")
st.caption("A lecturer opens a class and shows its code; students join with it, train on any live page and post "
           "their run. The board draws the whole class at once: the rate–distortion plane, a setting against the "
           "ELBO, a table, and any two runs side by side. It updates by itself as runs arrive.")

board.from_link()  # app.py does it too; a fresh server's first visitors may run this page without app.py
code = board.joined()
info, error = board.attempt(board.store().info, code) if code else (None, None)
if error:
    st.warning(f"Class {code}: {error}")
    board.leave()
    code = None
if code is None:
    board_panels.lobby()
else:
    board_panels.header(code, info)
    board_panels.live_board(code)
    board_panels.claim(code)
