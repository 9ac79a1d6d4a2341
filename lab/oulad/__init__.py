"""OULAD (Open University Learning Analytics Dataset): ``mapping`` writes it as landing files, learners and
outcomes; ``evaluation`` compares the sequence model with gradient-boosted trees and total clicks."""
