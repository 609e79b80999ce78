"""Planning: pipeline + inputs -> shapes, element selections and chunks."""
