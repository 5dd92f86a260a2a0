"""The Streamlit-aware layer: page discovery, session state and caches, live training, figures."""
