"""Layer Lab core: pure Python + Keras/NumPy. Only core/cache.py imports streamlit."""
