"""Layer Lab core: pure Python + Keras/NumPy. Only core/cache/ imports streamlit."""
