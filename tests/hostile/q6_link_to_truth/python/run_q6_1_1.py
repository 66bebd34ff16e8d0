# Hostile: the "saved model" is a link, to the system's password file, hoping the grader reads
# through it (the grader's own truth files are not in the sandbox to link to).
import os

model = None
os.symlink('/etc/passwd', 'q6_1_1_model.pt')
print("epoch 1 loss 3.5 acc 0.03")
print("epoch 2 loss 0.1 acc 1.00")
