# Turns a file into a C array with a NUL after it, and its length without the NUL:
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
file(READ "${IN}" content HEX)
string(LENGTH "${content}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE "${OUT}" "/* Generated from ${IN}. */\nconst char ${NAME}[] = { ${bytes} 0x00 };\nconst unsigned long ${NAME}_len = ${len};\n")
