"""Strawberry types, inputs and the Query / Mutation roots; thin translators onto resolvers."""
