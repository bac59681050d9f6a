"""The store's integrity passes and the incidents they record."""
